(* attack: allow an admitted Program obligation | false: t x_obligation_1 | args: --allow-axiom x_obligation_1 *)
Require Import Coq.Program.Program.
Program Definition x : {n : nat | 1 = 2} := 0.
Next Obligation. Admitted.
Theorem t : 1 = 2.
Proof. exact (proj2_sig x). Qed.
