(* compiled with -impredicative-set (see Main.v) *)
Require Import Coq.Logic.Hurkens.
Definition SForall {A:Type} (P:A->Set) : Set := forall x:A, P x.
Section Paradox.
Variable bool : Set.
Variable p2b : Set -> bool.
Variable b2p : bool -> Set.
Hypothesis p2p1 : forall A:Set, b2p (p2b A) -> A.
Hypothesis p2p2 : forall A:Set, A -> b2p (p2b A).
Theorem paradox : forall B:Set, B.
Proof.
  intros B.
  Generic.paradox h.
  + exact Set.
  + exact (fun X => X).
  + exact (fun _ => SForall).
  + cbn. exact (fun _ _ f => f).
  + cbn. exact (fun _ _ f => f).
  + exact SForall.
  + cbn. exact (fun _ f => f).
  + cbn. exact (fun _ f => f).
  + exact bool.
  + exact (fun b => b2p b).
  + cbn. exact (fun _ F => p2b (SForall (fun x => b2p (F x)))).
  + exact (fun _ F => p2b (SForall (fun x => b2p (F x)))).
  + apply p2b. exact B.
  + cbn in h. exact (p2p1 _ h).
  + cbn. easy.
  + cbn. easy.
  + cbn. auto.
  + cbn. intros * f. apply p2p1 in f. exact f.
  + cbn. auto.
  + cbn. intros * f. apply p2p1 in f. exact f.
Qed.
End Paradox.
