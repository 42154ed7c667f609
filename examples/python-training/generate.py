#!/usr/bin/env python3
"""Generates the Cairn gRPC client (cairn_client/gen) from the repository's protos.

    python generate.py [--proto-dir ../../proto]

train.py also does this by itself when the client is missing or the protos changed.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from cairn_client.codegen import GEN_DIR, GenerationError, generate, proto_dir_from_env


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--proto-dir",
        type=Path,
        default=proto_dir_from_env(),
        help="the proto/ directory of a Cairn checkout (env CAIRN_PROTO_DIR; default: this repository's)",
    )
    args = parser.parse_args()
    try:
        files = generate(args.proto_dir.resolve())
    except GenerationError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(f"generated the client for {len(files)} protos from {args.proto_dir.resolve()} into {GEN_DIR}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
