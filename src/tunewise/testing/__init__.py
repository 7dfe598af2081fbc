"""What tunewise ships for testing your own extensions: the Store contract suite."""

from tunewise.testing.store_contract import CAT, DIM, DOG, FISH, StoreContract, stored, vec

__all__ = ["StoreContract", "stored", "vec", "CAT", "DOG", "FISH", "DIM"]
