(* attack: impredicative Set from the project, not allowed by a flag | false: t | exit: 2 *)
Theorem t : True.
Proof. exact I. Qed.
