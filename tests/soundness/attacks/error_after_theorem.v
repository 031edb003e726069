(* attack: a later error; the theorem before it must not count | false: t *)
Axiom ax : 1 = 2.
Theorem t : 1 = 2.
Proof. exact ax. Qed.
Check undefined_thing.
