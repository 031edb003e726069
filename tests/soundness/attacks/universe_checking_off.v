(* attack: universe checking switched off | false: t *)
Unset Universe Checking.
Definition U : Type := Type.
Set Universe Checking.
Theorem t : U = U.
Proof. reflexivity. Qed.
