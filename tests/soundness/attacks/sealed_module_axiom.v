(* attack: a sealed module implements a field with an axiom | false: u *)
Module Type S. Parameter t : 1 = 2. End S.
Module M : S. Axiom t : 1 = 2. End M.
Theorem u : 1 = 2.
Proof. exact M.t. Qed.
