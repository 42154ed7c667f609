-- create-service-role.sql: gives one Cairn service its own login role, limited to its own schema.
--
-- Run by a DBA, once per service, against the Cairn database, as a superuser or as the
-- database owner holding CREATEROLE (see docs/database-roles.md):
--
--   psql "$ADMIN_URL" -v service=tracking -v password='...' -f deploy/sql/create-service-role.sql
--
-- Variables:
--   service   required: the service's schema, and the suffix of its role name
--             (a lower-case SQL identifier: tracking, registry, orchestrator, monitor, gateway)
--   password  required: the role's password, either plain text or a SCRAM-SHA-256 verifier
--             ('SCRAM-SHA-256$4096:...'), which Postgres stores as given
--   role      optional: the role name; defaults to cairn_<service>. Roles are global to the
--             cluster, so set it when several Cairn databases share one cluster (the tests do).
--
-- Idempotent: a rerun keeps the role, schema and data, resets the password to the one given
-- (so it also rotates passwords) and reapplies the settings below. What the role ends up with:
--   * LOGIN, none of SUPERUSER, CREATEDB, CREATEROLE, REPLICATION, BYPASSRLS;
--   * CONNECT on this database, but not CREATE (it cannot create schemas);
--   * ownership of schema <service>, so it creates and migrates its own tables there;
--   * no CREATE on schema public (revoked from PUBLIC and from the role itself);
--   * search_path = <service>;
--   * nothing on the other services' schemas: each is owned by its own role, and this
--     script never grants across them.
--
-- For later, the registry's audit table (append-only history): the registry will
-- REVOKE UPDATE, DELETE on it from its own role. That alone does not hold, because the owner of
-- a table (and the owner of the schema it lives in, who can drop and recreate it) can grant
-- the privileges back to itself. The audit table must therefore be owned by a separate owner
-- role (e.g. cairn_registry_audit_owner, NOLOGIN) that grants cairn_registry only
-- INSERT and SELECT on it, ideally in a schema cairn_registry does not own. Not implemented here.

\set ON_ERROR_STOP on
\set QUIET on
SET client_min_messages = warning;

-- Arguments ----------------------------------------------------------------------------------

\if :{?service}
\else
  DO $$ BEGIN RAISE EXCEPTION 'create-service-role.sql: the schema is required: -v service=<name>'; END $$;
\endif
\if :{?password}
\else
  DO $$ BEGIN RAISE EXCEPTION 'create-service-role.sql: the password is required: -v password=<secret>'; END $$;
\endif
\if :{?role}
\else
  \set role cairn_ :service
\endif

SELECT format($f$DO $do$ BEGIN RAISE EXCEPTION USING MESSAGE = %L; END $do$$f$,
              format('create-service-role.sql: service %s must be a lower-case SQL identifier other than public',
                     quote_literal(:'service')))
 WHERE :'service' !~ '^[a-z_][a-z0-9_]{0,62}$' OR :'service' IN ('public', 'information_schema')
    OR :'service' LIKE 'pg\_%' \gexec
SELECT format($f$DO $do$ BEGIN RAISE EXCEPTION USING MESSAGE = %L; END $do$$f$,
              format('create-service-role.sql: role %s must be a lower-case SQL identifier of at most 63 characters',
                     quote_literal(:'role')))
 WHERE :'role' !~ '^[a-z_][a-z0-9_]{0,62}$' OR :'role' LIKE 'pg\_%' \gexec
SELECT format($f$DO $do$ BEGIN RAISE EXCEPTION USING MESSAGE = %L; END $do$$f$,
              'create-service-role.sql: the password must not be empty')
 WHERE :'password' = '' \gexec

SELECT current_database() AS cairn_db,
       (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) AS cairn_admin_is_superuser,
       EXISTS (SELECT 1 FROM pg_roles WHERE rolname = :'role') AS cairn_role_exists \gset

-- An existing schema is handed over only from its creator or a superuser (embedded mode creates
-- it as one), never taken from another role: that would be another service's schema.
SELECT format($f$DO $do$ BEGIN RAISE EXCEPTION USING MESSAGE = %L; END $do$$f$,
              format('create-service-role.sql: schema %s is owned by role %s, not %s; refusing to take it over',
                     n.nspname, r.rolname, :'role'))
  FROM pg_namespace n JOIN pg_roles r ON r.oid = n.nspowner
 WHERE n.nspname = :'service' AND r.rolname <> :'role' AND r.rolname <> current_user AND NOT r.rolsuper \gexec

-- Role ---------------------------------------------------------------------------------------

\if :cairn_role_exists
  -- An existing role must not carry attributes that bypass the isolation below.
  SELECT format($f$DO $do$ BEGIN RAISE EXCEPTION USING MESSAGE = %L; END $do$$f$,
                format('create-service-role.sql: role %s exists with SUPERUSER, CREATEDB, CREATEROLE, '
                       'REPLICATION or BYPASSRLS; a service role must have none of them', :'role'))
    FROM pg_roles
   WHERE rolname = :'role' AND (rolsuper OR rolcreatedb OR rolcreaterole OR rolreplication OR rolbypassrls) \gexec
  ALTER ROLE :"role" WITH LOGIN PASSWORD :'password';
\else
  -- The defaults are NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS.
  CREATE ROLE :"role" WITH LOGIN PASSWORD :'password';
\endif

-- CREATE SCHEMA ... AUTHORIZATION needs the caller to be able to act as the role, which a
-- superuser always can; a non-superuser DBA (CREATEROLE, database owner) takes membership.
\if :cairn_admin_is_superuser
\else
  GRANT :"role" TO CURRENT_USER;
\endif

-- Database -----------------------------------------------------------------------------------

GRANT CONNECT ON DATABASE :"cairn_db" TO :"role";
REVOKE CREATE ON DATABASE :"cairn_db" FROM :"role";

-- Schema public: nobody creates objects there (the default since Postgres 15; older clusters
-- granted CREATE to PUBLIC). USAGE stays, for extensions installed in public.
SELECT format('REVOKE CREATE ON SCHEMA public FROM PUBLIC'),
       format('REVOKE ALL ON SCHEMA public FROM %I', :'role')
 WHERE EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = 'public') \gexec

-- The service's schema -----------------------------------------------------------------------

CREATE SCHEMA IF NOT EXISTS :"service" AUTHORIZATION :"role";
-- A schema created earlier by a superuser or the caller (e.g. by the service in embedded mode)
-- is handed over; tables already inside keep their owner: ALTER TABLE ... OWNER TO the role
-- for each of them before switching the service over.
ALTER SCHEMA :"service" OWNER TO :"role";
REVOKE ALL ON SCHEMA :"service" FROM PUBLIC;

ALTER ROLE :"role" SET search_path = :"service";

\echo 'create-service-role.sql: role' :role 'owns schema' :service 'in database' :cairn_db
