(* valid: Time Qed and Time End | proved: M.t u *)
Module M.
Theorem t : True.
Proof. exact I. Time Qed.
Time End M.
Theorem u : True.
Proof. Time exact I. Qed.
