(* attack: a dependency compiled with -impredicative-set proves Hurkens' paradox for Set; with two standard, allowed axioms (consistent in predicative Coq) the main file proves False, and nothing reports impredicative Set (the bare -impredicative-set line of _CoqProject is skipped by Springtail and passed to coqc by the test harness when it builds Dep.v only) | false: t | exit: 2 | build: Dep.v | args: --allow-axiom Coq.Logic.ClassicalEpsilon.constructive_indefinite_description --allow-axiom Coq.Logic.Classical_Prop.classic *)
Require Import Coq.Logic.ClassicalEpsilon.
Require Imp.Dep.
Definition p2b (A : Set) : bool :=
  if excluded_middle_informative (inhabited A) then true else false.
Definition b2p (b : bool) : Set := if b then unit else Empty_set.
Lemma p2p1 : forall A : Set, b2p (p2b A) -> A.
Proof.
  intros A. unfold p2b. destruct (excluded_middle_informative (inhabited A)) as [i|n]; simpl.
  - intros _. exact (proj1_sig (constructive_indefinite_description (fun _ : A => True)
      (match i with inhabits a => ex_intro _ a I end))).
  - intros e. destruct e.
Qed.
Lemma p2p2 : forall A : Set, A -> b2p (p2b A).
Proof.
  intros A a. unfold p2b. destruct (excluded_middle_informative (inhabited A)) as [i|n]; simpl.
  - exact tt.
  - destruct (n (inhabits a)).
Qed.
Theorem t : False.
Proof. destruct (Imp.Dep.paradox bool p2b b2p p2p1 p2p2 Empty_set). Qed.
