(* attack: an admitted Goal (no name in the source, Unnamed_thm to Coq) inside a module type, used by a theorem there | false: MT.t *)
Module Type MT.
Parameter n : nat.
Goal 1 = 2.
Proof. Admitted.
Theorem t : 1 = 2.
Proof. exact Unnamed_thm. Qed.
End MT.
