(* attack: allow an obligation admitted by Admit Obligations | false: t y_obligation_1 | args: --allow-axiom y_obligation_1 *)
Require Import Coq.Program.Program.
Program Definition y : {n : nat | 1 = 2} := 0.
Admit Obligations.
Theorem t : 1 = 2.
Proof. exact (proj2_sig y). Qed.
