(* valid: a byte-order mark before the first theorem | proved: first second *)
Theorem first : True.
Proof. exact I. Qed.
Theorem second : True.
Proof. exact I. Qed.
