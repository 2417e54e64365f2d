"""Money: prices, cost of a call, budgets, the llm.call event and cost log, reports."""
