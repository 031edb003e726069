(* valid: the same short name in two modules | proved: A.t B.t *)
Module A.
Theorem t : True.
Proof. exact I. Qed.
End A.
Module B.
Theorem t : 1 = 1.
Proof. reflexivity. Qed.
End B.
