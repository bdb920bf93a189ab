"""Token roles and what each may do: the one table the gateway checks every request against."""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    ADMIN = "admin"  # everything, including registering playbooks and managing the deployment
    CLIENT = "client"  # start, cancel, signal, and read
    WORKER = "worker"  # lease, heartbeat, report and release commands; nothing else
    READER = "reader"  # read only


class Capability(StrEnum):
    READ = "read"  # GET of executions, events, commands, queue, playbooks, the console
    CONTROL = "control"  # client events: start, cancel, signals
    REGISTER = "register"  # add playbook versions to the catalog
    WORK = "work"  # the remote worker's endpoints
    MANAGE = "manage"  # the deployment itself: drain on / off


CAPABILITIES: dict[Role, frozenset[Capability]] = {
    Role.ADMIN: frozenset(Capability),
    Role.CLIENT: frozenset({Capability.READ, Capability.CONTROL}),
    Role.WORKER: frozenset({Capability.WORK}),
    Role.READER: frozenset({Capability.READ}),
}


def allows(role: Role, capability: Capability) -> bool:
    return capability in CAPABILITIES[role]
