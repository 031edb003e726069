(* attack: a no-break space after a period, which is no sentence end to Coq | false: b *)
Theorem b : 1 = 2.
Proof. exact I. Admitted.
Theorem c : True.
Proof. exact I. Qed.
