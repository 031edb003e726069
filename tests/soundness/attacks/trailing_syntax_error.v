(* attack: coqc rejects the file (trailing syntax error) | false: t *)
Theorem t : True.
Proof. exact I. Qed.
This is not Coq
