"""The cost model: prices (API tokens, GPU hours), serving and training cost, break-even."""
