(* attack: _CoqProject switches off universe checking | false: t | exit: 2 *)
Theorem t : True.
Proof. exact I. Qed.
