(* attack: a Loaded file declares a plugin by path | false: t | exit: 2 | plugin: announce.ml=evil.cmxs *)
Load "Helper".
Theorem t : 1 = 2.
Proof. Admitted.
