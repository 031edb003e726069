(* attack: _CoqProject -I line | false: t | exit: 2 *)
Theorem t : True.
Proof. exact I. Qed.
