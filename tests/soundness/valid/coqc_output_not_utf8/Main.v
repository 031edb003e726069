(* valid: a Loaded file makes coqc print a byte that is not UTF-8 (idtac of a Latin-1 string); the file still compiles and must be checked | proved: t *)
Load Helper.
Theorem t : True.
Proof. exact I. Qed.
