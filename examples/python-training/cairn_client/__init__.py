"""Cairn's Python gRPC client for this example.

``cairn_client.codegen`` generates the stubs from the protos (``generate.py``);
``cairn_client.client`` (which generates them first when missing) wraps the gateway's services.
"""
