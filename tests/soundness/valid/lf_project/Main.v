(* valid: a project with a logical prefix, a dependency and a module | proved: NatList.app_assoc negb'_involutive | build: Basics.v *)
From LF Require Import Basics.
Module NatList.
Theorem app_assoc : forall l1 l2 l3 : list nat, app (app l1 l2) l3 = app l1 (app l2 l3).
Proof. intros. induction l1; simpl; [reflexivity | rewrite IHl1; reflexivity]. Qed.
Theorem bad : 1 = 2.
Abort.
End NatList.
Theorem negb'_involutive : forall b, negb' (negb' b) = b.
Proof. destruct b; reflexivity. Qed.
