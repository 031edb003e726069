(* attack: an axiom with the name of a module type's field | false: t *)
Module Type T. Parameter bad : 1 = 2. End T.
Module T'. Axiom bad : 1 = 2. End T'.
Theorem t : 1 = 2.
Proof. exact T'.bad. Qed.
