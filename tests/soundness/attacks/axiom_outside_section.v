(* attack: Axiom, Parameter and Hypothesis outside sections | false: t1 t2 t3 *)
Axiom a : 1 = 2.
Parameter p : 1 = 2.
Hypothesis h : 1 = 2.
Theorem t1 : 1 = 2. Proof. exact a. Qed.
Theorem t2 : 1 = 2. Proof. exact p. Qed.
Theorem t3 : 1 = 2. Proof. exact h. Qed.
