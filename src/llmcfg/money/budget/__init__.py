"""Budgets enforced before a call is sent: worst-case estimate, atomic reservation in a store shared
by every process (SQLite on one machine, Redis across machines), settlement to the real cost."""

from llmcfg.money.budget.guard import BudgetGuard, Reservation
from llmcfg.money.budget.stores import BudgetStore, LocalStore, Refusal

__all__ = ["BudgetGuard", "BudgetStore", "LocalStore", "Refusal", "Reservation"]
