Axiom classic : 1 = 2.
