"""Agents: several controllers grow one shared system at once (µ3Net).

One agent per task, each running the controller's loop on its own machine;
all share one system directory (local or gs://) with no messages: each
publishes its own states in its folder, and reads the others' (see
`layout`, `codec`, `members`, `agent`, `system`).
"""

from mu2keras.agents.agent import Agent
from mu2keras.agents.layout import AgentError
from mu2keras.agents.layout import agent_name
from mu2keras.agents.layout import is_system
from mu2keras.agents.system import load_system

__all__ = ["Agent", "AgentError", "agent_name", "is_system", "load_system"]
