(* attack: _CoqProject binds the project to the logical prefix Coq, so the allowed Coq.Logic.Classical_Prop.classic is the project's axiom 1 = 2 | false: t | build: Logic/Classical_Prop.v | args: --allow-axiom Coq.Logic.Classical_Prop.classic | exit: 2 *)
Require Coq.Logic.Classical_Prop.
Theorem t : 1 = 2.
Proof. exact Coq.Logic.Classical_Prop.classic. Qed.
