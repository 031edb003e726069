(* valid: theorems after an Abort are checked | proved: t1 t2 *)
Theorem x : 1 = 2.
Abort.
Theorem t1 : True.
Proof. exact I. Qed.
Theorem t2 : 1 + 1 = 2.
Proof. reflexivity. Qed.
