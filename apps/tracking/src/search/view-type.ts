import { AppError } from '@cairn/rpc';

/** MLflow's view types for search. */
export type ViewTypeName = 'ACTIVE_ONLY' | 'DELETED_ONLY' | 'ALL';

/** The lifecycle condition for a view type; null when every row qualifies. */
export function lifecycleCondition(column: string, viewType: ViewTypeName): string | null {
  switch (viewType) {
    case 'ACTIVE_ONLY':
      return `${column} = 'active'`;
    case 'DELETED_ONLY':
      return `${column} = 'deleted'`;
    case 'ALL':
      return null;
    default: {
      const unreachable: never = viewType;
      throw new AppError('invalid_argument', 'INVALID_VIEW_TYPE', `Unknown view type ${String(unreachable)}`);
    }
  }
}
