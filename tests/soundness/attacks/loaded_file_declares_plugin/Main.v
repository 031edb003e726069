(* attack: a Loaded file declares a plugin by path | false: t | exit: 2 | plugin: evil.ml=evil.cmxs *)
Load "Helper".
Theorem t : 1 = 2.
Proof. Admitted.
