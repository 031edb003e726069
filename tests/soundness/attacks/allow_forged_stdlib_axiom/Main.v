(* attack: a subfolder Coq/Logic of the file's own folder forges the standard library's Classical_Prop, so the allowed Coq.Logic.Classical_Prop.classic is the file's axiom 1 = 2 | false: t | build: Coq/Logic/Classical_Prop.v | args: --allow-axiom Coq.Logic.Classical_Prop.classic *)
Require Coq.Logic.Classical_Prop.
Theorem t : 1 = 2.
Proof. exact Coq.Logic.Classical_Prop.classic. Qed.
