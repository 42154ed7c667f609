/** The configured artifact store (an ArtifactStore from @cairn/artifacts). */
export const ARTIFACT_STORE = Symbol('ARTIFACT_STORE');
