(* attack: _CoqProject binds the project to Coq.Logic, so its Classical_Prop.classic (an axiom 1 = 2) has the kernel name --allow-axioms classical allows | false: t | build: Classical_Prop.v | args: --allow-axioms classical | exit: 2 *)
Require Coq.Logic.Classical_Prop.
Theorem t : 1 = 2.
Proof. exact Coq.Logic.Classical_Prop.classic. Qed.
