(* valid: section variables are discharged | proved: t *)
Section S.
Variable P : Prop.
Hypothesis p : P.
Theorem t : P /\ True.
Proof. split. exact p. exact I. Qed.
End S.
