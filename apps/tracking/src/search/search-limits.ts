import type { MaxResultsLimit, PageTokenErrors } from '@cairn/search';

/** search_runs and search_experiments serve up to 50000 rows a page (SEARCH_MAX_RESULTS_THRESHOLD). */
export const MAX_RESULTS: MaxResultsLimit = { max: 50_000, reason: 'INVALID_MAX_RESULTS' };

/** A run or experiment page token continues only the search that produced it. */
export const PAGE_TOKEN_ERRORS: PageTokenErrors = {
  reason: 'INVALID_PAGE_TOKEN',
  boundTo: 'experiment ids, view type, filter or order_by',
};
