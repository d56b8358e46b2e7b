"""A class whose students join from their own laptops: ``classroom host`` and ``classroom join``."""
