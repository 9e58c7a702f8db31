"""Jira: the ``JiraCredentials`` block and ``JiraTracker``, the Tracker port's Jira Cloud adapter."""

from integrations.jira.credentials import JiraCredentials
from integrations.jira.tracker import JiraTracker

__all__ = ["JiraCredentials", "JiraTracker"]
