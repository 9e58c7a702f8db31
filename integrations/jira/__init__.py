"""Jira: the ``JiraCredentials`` block and ``JiraTracker``, the Tracker port's Jira Cloud adapter."""

from warroom.integrations.jira.credentials import JiraCredentials
from warroom.integrations.jira.tracker import JiraTracker

__all__ = ["JiraCredentials", "JiraTracker"]
