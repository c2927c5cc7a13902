"""Hosting stream processors: a `HostedProcessor` base that appends side effects, durable
checkpoints in SQLite, the runner a stream dials (outbound) and the inbound host loop.
Modules: `hosted`, `checkpoints`, `stream_calls`, `runner`, `inbound`, `listener`, `config`.
"""
