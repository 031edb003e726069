(* attack: a Loaded file declares the axiom | false: t *)
Load Helper.
Theorem t : 1 = 2.
Proof. exact bad. Qed.
