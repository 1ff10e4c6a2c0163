"""Conversations: follow-up questions rewritten into standalone ones from the earlier turns (followups),
and the conversation a front-end keeps, with its window of turns and how a missing answer is said
(session)."""
