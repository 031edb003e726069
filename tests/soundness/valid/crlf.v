(* valid: Windows line ends | proved: t *)
Theorem t : True.
Proof.
  exact I.
Qed.
