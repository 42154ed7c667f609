/*
 * kafka-mock: runs librdkafka's built-in mock Kafka cluster (a real Kafka-protocol broker)
 * for integration tests. Built and driven by libs/testing/src/kafka-mock.ts.
 *
 *   usage: kafka-mock [broker_count]       (default 3; brokers are numbered from 1)
 *
 * Prints one line "BOOTSTRAP <host:port,...>", then reads one command per stdin line and
 * answers each with one line "OK" or "ERR <reason>":
 *   topic <name> <partitions> <replication>
 *   down <broker_id>
 *   up <broker_id>
 *   quit
 * On stdin EOF (e.g. the parent died) it destroys the cluster and exits 0.
 */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

static int parse_int(const char *s, long min, long max, int *out) {
        char *end;
        long v;
        if (!s)
                return -1;
        errno = 0;
        v     = strtol(s, &end, 10);
        if (errno || end == s || *end != '\0' || v < min || v > max)
                return -1;
        *out = (int)v;
        return 0;
}

static void reply(const char *fmt, const char *arg) {
        if (arg)
                printf(fmt, arg);
        else
                fputs(fmt, stdout);
        fputc('\n', stdout);
        if (fflush(stdout) != 0)
                exit(1); /* parent is gone */
}

/* Handles one command line; returns 1 on "quit". */
static int handle(rd_kafka_mock_cluster_t *mcluster, int broker_cnt, char *line) {
        char *save = NULL;
        char *cmd  = strtok_r(line, " \t", &save);
        char *a1   = strtok_r(NULL, " \t", &save);
        char *a2   = strtok_r(NULL, " \t", &save);
        char *a3   = strtok_r(NULL, " \t", &save);
        char *rest = strtok_r(NULL, " \t", &save);
        rd_kafka_resp_err_t err;
        int n1, n2, id;

        if (!cmd) {
                reply("ERR empty command", NULL);
                return 0;
        }
        if (!strcmp(cmd, "quit")) {
                reply("OK", NULL);
                return 1;
        }
        if (!strcmp(cmd, "topic")) {
                if (!a1 || rest || parse_int(a2, 1, 100000, &n1) ||
                    parse_int(a3, 1, broker_cnt, &n2)) {
                        reply("ERR usage: topic <name> <partitions 1..> <replication 1..brokers>",
                              NULL);
                        return 0;
                }
                err = rd_kafka_mock_topic_create(mcluster, a1, n1, n2);
                if (err)
                        reply("ERR %s", rd_kafka_err2str(err));
                else
                        reply("OK", NULL);
                return 0;
        }
        if (!strcmp(cmd, "down") || !strcmp(cmd, "up")) {
                if (a2 || parse_int(a1, 1, broker_cnt, &id)) {
                        reply("ERR usage: down|up <broker_id 1..brokers>", NULL);
                        return 0;
                }
                err = !strcmp(cmd, "down")
                          ? rd_kafka_mock_broker_set_down(mcluster, id)
                          : rd_kafka_mock_broker_set_up(mcluster, id);
                if (err)
                        reply("ERR %s", rd_kafka_err2str(err));
                else
                        reply("OK", NULL);
                return 0;
        }
        reply("ERR unknown command %s", cmd);
        return 0;
}

int main(int argc, char **argv) {
        char errstr[512];
        char line[4096];
        int broker_cnt = 3;
        rd_kafka_conf_t *conf;
        rd_kafka_t *rk;
        rd_kafka_mock_cluster_t *mcluster;

        signal(SIGPIPE, SIG_IGN);

        if (argc > 2 || (argc == 2 && parse_int(argv[1], 1, 100, &broker_cnt))) {
                fprintf(stderr, "usage: %s [broker_count 1..100]\n", argv[0]);
                return 2;
        }

        /* The mock cluster is owned by (and runs on threads of) an rd_kafka_t handle. */
        conf = rd_kafka_conf_new();
        if (rd_kafka_conf_set(conf, "log_level", "4", errstr, sizeof(errstr)) !=
            RD_KAFKA_CONF_OK) {
                fprintf(stderr, "kafka-mock: conf: %s\n", errstr);
                rd_kafka_conf_destroy(conf);
                return 1;
        }
        rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
        if (!rk) {
                fprintf(stderr, "kafka-mock: rd_kafka_new: %s\n", errstr);
                rd_kafka_conf_destroy(conf);
                return 1;
        }

        mcluster = rd_kafka_mock_cluster_new(rk, broker_cnt);
        if (!mcluster) {
                fprintf(stderr, "kafka-mock: rd_kafka_mock_cluster_new failed\n");
                rd_kafka_destroy(rk);
                return 1;
        }

        printf("BOOTSTRAP %s\n", rd_kafka_mock_cluster_bootstraps(mcluster));
        if (fflush(stdout) != 0) {
                rd_kafka_mock_cluster_destroy(mcluster);
                rd_kafka_destroy(rk);
                return 1;
        }

        while (fgets(line, sizeof(line), stdin)) {
                size_t len = strlen(line);
                if (len > 0 && line[len - 1] != '\n' && !feof(stdin)) {
                        /* Over-long line: discard the rest of it. */
                        int c;
                        while ((c = getchar()) != EOF && c != '\n')
                                ;
                        reply("ERR line too long", NULL);
                        continue;
                }
                while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
                        line[--len] = '\0';
                if (handle(mcluster, broker_cnt, line))
                        break;
        }

        rd_kafka_mock_cluster_destroy(mcluster);
        rd_kafka_destroy(rk);
        return 0;
}
