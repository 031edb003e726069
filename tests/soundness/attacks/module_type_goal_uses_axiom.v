(* attack: a Goal inside a module type proved with a real axiom, next to a clean theorem | false: Unnamed_thm *)
Axiom cheat : 1 = 2.
Module Type MT.
Parameter n : nat.
Goal 1 = 2.
Proof. exact cheat. Qed.
End MT.
Theorem ok : True.
Proof. exact I. Qed.
