(* valid: lia works and writes no cache into the source folder | proved: t *)
Require Import Lia.
Theorem t : forall a b : nat, a + b = b + a.
Proof. intros. lia. Qed.
