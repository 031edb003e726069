(* attack: coqc rejects the file (a section is never closed) | false: t *)
Section S.
Theorem t : True.
Proof. exact I. Qed.
