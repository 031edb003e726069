Axiom bad : 1 = 2.
