(* attack: _CoqProject adds an OCaml plugin folder | false: t | exit: 2 *)
Theorem t : True.
Proof. exact I. Qed.
