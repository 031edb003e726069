(* valid: `Proof (* comment *).` | proved: t u *)
Theorem t : True.
Proof (* a comment *). exact I. Qed.
Theorem u : True.
Proof. exact I. Qed.
